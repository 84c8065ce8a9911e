"""cinder: volumes and their attachments."""
