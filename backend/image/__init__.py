"""glance: images, their data and its inspection."""
