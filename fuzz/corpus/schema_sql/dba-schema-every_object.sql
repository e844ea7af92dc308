-- Every kind of object dba-schema introspects, including the cases the Python original got wrong.
CREATE SCHEMA app;

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');

CREATE TABLE categories (
    id serial PRIMARY KEY,
    slug varchar(40) NOT NULL UNIQUE,
    name text NOT NULL
);

CREATE TABLE pairs (a int, b int, label char(3), PRIMARY KEY (a, b));

CREATE TABLE products (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    category_id int REFERENCES categories ON DELETE CASCADE,
    pa int,
    pb int,
    price numeric(10, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
    tags text[],
    feeling mood DEFAULT 'ok',
    created_at timestamptz NOT NULL DEFAULT now(),
    double_price numeric GENERATED ALWAYS AS (price * 2) STORED,
    CONSTRAINT products_pair_fkey FOREIGN KEY (pa, pb) REFERENCES pairs (a, b)
        ON UPDATE SET NULL DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT products_tag_check CHECK (cardinality(tags) < 10)
);

-- The same constraint names on two tables: the original merged them.
CREATE TABLE orders (
    id int PRIMARY KEY,
    product_id bigint,
    CONSTRAINT shared_check CHECK (id > 0),
    CONSTRAINT shared_fk FOREIGN KEY (product_id) REFERENCES products (id)
);
CREATE TABLE returns (
    id int PRIMARY KEY,
    order_id int,
    CONSTRAINT shared_check CHECK (id < 1000000),
    CONSTRAINT shared_fk FOREIGN KEY (order_id) REFERENCES orders (id)
);

CREATE INDEX products_cents ON products ((price * 100));
CREATE INDEX products_price_partial ON products (price, created_at) WHERE price > 100;
CREATE UNIQUE INDEX categories_name_ci ON categories (lower(name));

CREATE TABLE events (id int, at date NOT NULL, payload jsonb) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');

CREATE TABLE app."Audit Log" ("Id" int PRIMARY KEY, "Who" varchar(20));

CREATE VIEW expensive AS SELECT id, price FROM products WHERE price > 100;
CREATE MATERIALIZED VIEW category_counts AS SELECT category_id, count(*) AS n FROM products GROUP BY 1;

CREATE SEQUENCE invoice_no START 1000 INCREMENT 5;

CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL; -- statements; inside a body; never split the file
END
$$;
CREATE FUNCTION area(r int) RETURNS int LANGUAGE sql AS 'SELECT r * r';
CREATE FUNCTION area(w int, h int) RETURNS int LANGUAGE sql AS 'SELECT w * h';

CREATE TRIGGER products_audit AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION audit();

CREATE TABLE schema_migrations (version text);
