-- The "drift" database: items lacks b, e and f; products lacks price and active (5 missing columns).
CREATE TABLE items (
    a SERIAL PRIMARY KEY,
    c TEXT,
    d INTEGER DEFAULT 0,
    g VARCHAR(50)
);
CREATE TABLE categories (
    id SERIAL PRIMARY KEY,
    slug VARCHAR(50) UNIQUE NOT NULL,
    name VARCHAR(100) NOT NULL,
    user_id VARCHAR(50) NOT NULL
);
CREATE TABLE products (
    id SERIAL PRIMARY KEY,
    slug VARCHAR(50) UNIQUE NOT NULL,
    name VARCHAR(100) NOT NULL,
    category_id INTEGER REFERENCES categories(id),
    user_id VARCHAR(50) NOT NULL
);
INSERT INTO items (c, d, g) VALUES
    ('first', 10, 'tag-a'), ('second', 20, 'tag-b'), ('third', 30, 'tag-c'),
    ('fourth', 40, 'tag-d'), ('fifth', 50, 'tag-e');
INSERT INTO categories (slug, name, user_id) VALUES ('tools', 'Tools', 'u1');
INSERT INTO products (slug, name, category_id, user_id) VALUES
    ('hammer', 'Hammer', 1, 'u1'), ('wrench', 'Wrench', 1, 'u1');
