"""The demo and the local Redmine it runs on (also the integration tests' Redmine).

install.py installs Debian's Redmine with apt; rails.py runs the app (environment, ``rails
runner``, errors); instance.py starts and stops a local instance on loopback; prepare.py sets
up its custom fields, role and users; example.py is the MedCo example with the demo's config
and preview; seed.py seeds the example into an instance; command.py is the ``demo`` command
(registered in the command line's list, :data:`tracker_bridge.cli.app.COMMANDS`).
"""
