# Creates (or updates) the issue custom fields tracker-bridge writes, in a self-hosted Redmine.
# Idempotent: run it again after an upgrade, to add fields to new trackers, or to change who
# sees them. `tracker-bridge setup redmine` prints this script with the field names of your
# config, or runs it when started on the Redmine host. By hand:
#
#   cd /usr/share/redmine   # your Redmine directory
#   sudo -u www-data RAILS_ENV=production bin/rails runner /path/to/create_custom_fields.rb
#
# (no sudo: as root `runuser -u www-data -- env RAILS_ENV=production bin/rails runner ...`.)
#
# Quiet set-up: with VISIBLE_TO set (or TB_FIELD_VISIBILITY=role:Plan bot,Planner), only these
# roles (and administrators) see the fields. Redmine mails a change only to people who can see
# a changed field, so nobody else gets mail about our values; they read the plan on the wiki.
# The bot's own role must be one of them: a field the bot cannot see, it cannot write.

# BEGIN FIELDS (name, Redmine format)
FIELDS = [
  ['Critical', 'bool'],
  ['Total float (d)', 'int'],
  ['Early start', 'date'],
  ['Early finish', 'date'],
  ['Late finish', 'date'],
  ['Risk score', 'int'],
  ['P80 finish', 'date'],
  ['Criticality (%)', 'int'],
  ['Planned cost', 'float'],
  ['Slip (d)', 'int'],
  ['Levelled start', 'date'],
  ['Levelled finish', 'date'],
]
# END FIELDS

# BEGIN VISIBLE_TO (role names; empty: every user who can see the issue)
VISIBLE_TO = []
# END VISIBLE_TO

visibility = ENV['TB_FIELD_VISIBILITY'].to_s
names = visibility.start_with?('role:') ? visibility.delete_prefix('role:').split(',') : VISIBLE_TO
names = names.map(&:strip).reject(&:empty?)
roles = Role.where(name: names).to_a
missing = names - roles.map(&:name)
abort "unknown role(s): #{missing.join(', ')} (Administration -> Roles and permissions)" if missing.any?

trackers = Tracker.sorted.to_a
FIELDS.each do |name, format|
  field = IssueCustomField.find_by(name: name) || IssueCustomField.new(name: name)
  created = field.new_record?
  abort "custom field '#{name}' exists with format #{field.field_format}, not #{format}" \
    if !created && field.field_format != format
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
  seen_by = roles.empty? ? 'all users' : "roles #{roles.map(&:name).join(', ')} only"
  puts "#{created ? 'created' : 'updated'} custom field ##{field.id} #{name} (#{format}), " \
       "visible to #{seen_by}"
end
