"""Media files: storage layout, download/upload pipeline, file guard and quota."""
