-- The Python original's drifted database: items lacks b, e and f; products lacks price and active.
CREATE TABLE categories (id SERIAL PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE items (id SERIAL PRIMARY KEY, a TEXT, code TEXT);
CREATE TABLE products (id SERIAL PRIMARY KEY, cat_id INT REFERENCES categories(id), name TEXT);
CREATE TABLE reviews (id SERIAL PRIMARY KEY, item_id INT NOT NULL REFERENCES items(id), stars INT);
CREATE VIEW item_codes AS SELECT id, code FROM items;

INSERT INTO categories (name) VALUES ('tools'), ('toys');
INSERT INTO items (a, code) VALUES ('one', 'x'), ('two', 'x'), ('three', 'y'), ('four', 'z'), ('five', NULL);
INSERT INTO products (cat_id, name) VALUES (1, 'hammer'), (2, 'ball');
INSERT INTO reviews (item_id, stars) VALUES (1, 5), (3, 4);
