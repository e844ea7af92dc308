-- The schema of schema.sql with no rows: a destination for restore and sync.
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
-- Unrelated rows occupy the low ids, so a restore that keeps backed-up ids would collide.
INSERT INTO categories (slug, name, user_id) VALUES ('misc', 'Misc', 'other'), ('spare', 'Spare', 'other');
