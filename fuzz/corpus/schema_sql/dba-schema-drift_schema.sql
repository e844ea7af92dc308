-- The schema the drifted database should have.
CREATE TABLE categories (id SERIAL PRIMARY KEY, name TEXT NOT NULL);

CREATE TABLE items (
    id SERIAL PRIMARY KEY,
    a TEXT,
    code TEXT,
    b TEXT,
    e INTEGER DEFAULT 0,
    f TEXT NOT NULL
);

CREATE TABLE products (
    id SERIAL PRIMARY KEY,
    cat_id INT REFERENCES categories(id),
    name TEXT,
    price NUMERIC(10, 2) NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT true
);

CREATE TABLE reviews (id SERIAL PRIMARY KEY, item_id INT NOT NULL REFERENCES items(id), stars INT);
CREATE VIEW item_codes AS SELECT id, code FROM items;
