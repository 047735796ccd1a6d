"""A Procore record as the document an accountant would type: its lines, each job-costed, with retainage."""
