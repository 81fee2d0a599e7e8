// pfsync arrives with its own issue; this keeps the library non-empty.
