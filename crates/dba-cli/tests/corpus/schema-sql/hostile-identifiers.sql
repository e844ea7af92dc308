CREATE TABLE "items; DROP TABLE categories; --" (
    "a'); DELETE FROM items; --" SERIAL PRIMARY KEY,
    "b"" OR 1=1" TEXT
);
