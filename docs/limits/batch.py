# Rewrites a pg_dump --data-only plain file into dba's write shape: one transaction, each table's rows as
# COPY batches of N rows, each batch in its own savepoint.
import sys
n = int(sys.argv[1])
out = sys.stdout
out.write("BEGIN;\n")
header = None; buf = []
def flush():
    if buf:
        out.write("SAVEPOINT b;\n" + header + "".join(buf) + "\\.\nRELEASE SAVEPOINT b;\n")
        buf.clear()
for line in sys.stdin:
    if header is None:
        if line.startswith("COPY ") and line.rstrip().endswith("FROM stdin;"):
            header = line
        elif line.startswith("SELECT pg_catalog.setval"):
            out.write(line)
        continue
    if line == "\\.\n":
        flush(); header = None; continue
    buf.append(line)
    if len(buf) >= n: flush()
out.write("COMMIT;\n")
