"""gitlab-ctl: the host-side runtime shipped inside the package (reconfigure and friends)."""
