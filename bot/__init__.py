"""bot: the Telegram face of the service (intake, review, delivery) and the ``dermbot`` CLI."""
