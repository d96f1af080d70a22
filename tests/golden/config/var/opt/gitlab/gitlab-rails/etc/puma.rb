# Puma's configuration for GitLab, written by gitlab-ctl reconfigure from puma['...'] in
# gitlab.rb; edits here are lost on the next run.

rackup '/opt/gitlab/embedded/service/gitlab-rails/config.ru'
pidfile '/opt/gitlab/var/puma/puma.pid'
state_path '/opt/gitlab/var/puma/puma.state'

# Puma's own messages; what the application logs goes to log/ (gitlab-rails)
stdout_redirect '/var/log/gitlab/puma/puma_stdout.log', '/var/log/gitlab/puma/puma_stderr.log', true

threads 4, 4

# Take only as many requests as there are threads: Workhorse queues the rest.
queue_requests false

# Workhorse connects over the socket; the TCP listener is for health checks.
bind 'unix:///var/opt/gitlab/gitlab-rails/sockets/gitlab.socket'
bind 'tcp://127.0.0.1:8080'

directory '/var/opt/gitlab/gitlab-rails/working'

require_relative '/opt/gitlab/embedded/service/gitlab-rails/lib/gitlab/cluster/lifecycle_events'

on_restart do
  Gitlab::Cluster::LifecycleEvents.do_before_master_restart
end

before_fork do
  Gitlab::Cluster::LifecycleEvents.do_before_fork
end

Gitlab::Cluster::LifecycleEvents.set_puma_options @config.options
on_worker_boot do
  Gitlab::Cluster::LifecycleEvents.do_worker_start
end

on_worker_shutdown do
  Gitlab::Cluster::LifecycleEvents.do_worker_stop
end

# Load the application once, then fork the workers from it.
preload_app!

tag 'gitlab-puma-worker'

# A worker that has not checked in for this many seconds is restarted.
worker_timeout 60

# Puma's log lines as JSON, like the rest of GitLab's logs
require_relative '/opt/gitlab/embedded/service/gitlab-rails/lib/gitlab/puma_logging/json_formatter'

json_formatter = Gitlab::PumaLogging::JSONFormatter.new
log_formatter do |str|
  json_formatter.call(str)
end

workers 2
