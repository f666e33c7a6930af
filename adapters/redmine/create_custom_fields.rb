# Creates (or updates) the issue custom fields tracker-bridge writes, in a self-hosted Redmine.
# Idempotent: run it again after an upgrade or to add fields to new trackers.
#
#   cd /usr/share/redmine   # your Redmine directory
#   sudo -u www-data RAILS_ENV=production bin/rails runner /path/to/create_custom_fields.rb
#
# Optional: TB_FIELD_VISIBILITY=role:Planner,Manager makes the fields visible only to those roles
# (Redmine mails watchers about every field change they can see; see README.md).
FIELDS = [
  ['Critical', 'bool'],
  ['Total float (d)', 'int'],
  ['Early start', 'date'],
  ['Early finish', 'date'],
  ['Late finish', 'date'],
]

visibility = ENV['TB_FIELD_VISIBILITY'].to_s
roles = []
if visibility.start_with?('role:')
  names = visibility.delete_prefix('role:').split(',').map(&:strip)
  roles = Role.where(name: names).to_a
  missing = names - roles.map(&:name)
  abort "unknown role(s): #{missing.join(', ')}" if missing.any?
end

trackers = Tracker.sorted.to_a
FIELDS.each do |name, format|
  field = IssueCustomField.find_by(name: name) || IssueCustomField.new(name: name)
  created = field.new_record?
  field.field_format = format
  field.is_for_all = true
  field.is_filter = true
  field.editable = true
  field.is_required = false
  field.edit_tag_style = 'check_box' if format == 'bool'
  field.trackers = trackers
  field.visible = roles.empty?
  field.roles = roles
  field.save!
  puts "#{created ? 'created' : 'updated'} custom field ##{field.id} #{name} (#{format})"
end
