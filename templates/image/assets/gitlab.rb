# The all-in-one image's defaults, omnibus-gitlab's Docker options (its docker/assets/gitlab.rb).
# Read first (GITLAB_IMAGE_CONFIG names this file), then GITLAB_OMNIBUS_CONFIG, then
# /etc/gitlab/gitlab.rb: both override what is set here, and gitlab.rb wins over the variable.

# PostgreSQL would otherwise take a quarter of the host's memory
postgresql['shared_buffers'] = '256MB'
# No node_exporter inside a container
node_exporter['enable'] = false
# The image has the service accounts, with fixed ids
manage_accounts['enable'] = false
# The container's hostname, until external_url is set
external_url "http://#{node['hostname']}"
# No init system to detect, no kernel parameters to change in a container
package['detect_init'] = false
package['modify_kernel_parameters'] = false
