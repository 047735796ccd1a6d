"""Reference data: the ERP's projects, sub jobs, cost codes, cost types and vendors, linked one to one to
Procore's by people (exact codes link by themselves), kept with history in ERP Sync's own store.

``model`` holds the shapes every other package uses (the documents' lines are coded through
``ReferenceLinks``); reading, suggestions, links and the export check live beside it."""
