-- The "full" database: exactly schema.sql, with rows for users u1 and u2.
CREATE TABLE items (
    a SERIAL PRIMARY KEY,
    b VARCHAR(100) NOT NULL,
    c TEXT,
    d INTEGER DEFAULT 0,
    e BOOLEAN DEFAULT FALSE,
    f TIMESTAMP DEFAULT NOW(),
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
    price INTEGER DEFAULT 0,
    active BOOLEAN DEFAULT TRUE,
    user_id VARCHAR(50) NOT NULL
);
INSERT INTO items (b, c, d, e, g) VALUES
    ('alpha', 'first', 10, true, 'tag-a'),
    ('bravo', 'second', 20, false, 'tag-b'),
    ('charlie', 'third', 30, true, 'tag-c'),
    ('delta', 'fourth', 40, false, 'tag-d'),
    ('echo', 'fifth', 50, true, 'tag-e');
INSERT INTO categories (slug, name, user_id) VALUES
    ('tools', 'Tools', 'u1'),
    ('garden', 'Garden', 'u1'),
    ('kitchen', 'Kitchen', 'u2');
INSERT INTO products (slug, name, category_id, price, active, user_id) VALUES
    ('hammer', 'Hammer', 1, 12, true, 'u1'),
    ('saw', 'Saw', 1, 25, true, 'u1'),
    ('rake', 'Rake', 2, 18, false, 'u1'),
    ('pan', 'Pan', 3, 30, true, 'u2');
