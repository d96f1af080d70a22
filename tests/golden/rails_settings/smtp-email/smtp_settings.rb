# Sending mail over SMTP, written by gitlab-ctl reconfigure from gitlab.rb
# (gitlab_rails['smtp_*']). Change gitlab.rb and run `gitlab-ctl reconfigure`; edits to
# this file are lost on the next run.

if Rails.env.production?
  secrets = Gitlab::Email::SmtpConfig.secrets
  smtp_settings = {
    authentication: :login,
    user_name: "mailer",
    password: "pa\#{ss}",
    address: "smtp.example.test",
    port: 465,
    tls: true,
    ca_file: "/opt/gitlab/embedded/ssl/certs/cacert.pem",
    open_timeout: 30,
    read_timeout: 60,
  }

  require 'mail/smtp_pool'

  ActionMailer::Base.add_delivery_method :smtp_pool, Mail::SMTPPool

  Gitlab::Application.config.action_mailer.delivery_method = :smtp_pool
  ActionMailer::Base.delivery_method = :smtp_pool

  ActionMailer::Base.smtp_pool_settings = {
    pool: Mail::SMTPPool.create_pool(
      smtp_settings.merge(pool_size: Gitlab::Runtime.max_threads)
    )
  }
end
