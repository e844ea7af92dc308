CREATE TABLE items (
    a SERIAL PRIMARY KEY,
    b TEXT DEFAULT 'never closed
);
