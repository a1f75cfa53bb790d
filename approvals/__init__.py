"""Human-in-the-loop approval requests sent over WhatsApp."""
