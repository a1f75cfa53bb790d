"""Where WhatsApp clients live: device runners (one process each) and the fleet that supervises them.
The only package (with ``whatsapp.engine``) allowed to create engines."""
