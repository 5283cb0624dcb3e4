"""The legal task's application pieces: its report section and the rate-suitability command's logic."""
