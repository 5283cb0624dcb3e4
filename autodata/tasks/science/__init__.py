"""The science task's application pieces: its report section."""
