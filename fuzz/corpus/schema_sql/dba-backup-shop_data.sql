-- Rows for two users; ids start high so a restore into an empty database must remap them.
SELECT setval(pg_get_serial_sequence('categories', 'id'), 100);
SELECT setval(pg_get_serial_sequence('products', 'id'), 500);
INSERT INTO categories (user_id, slug, name) VALUES
    ('u1', 'tools', 'Tools'), ('u1', 'toys', 'Toys'), ('u2', 'tools', 'Other tools');
INSERT INTO products (user_id, slug, category_id, price, tags, meta, data, uid, feeling, span, made_at, day)
SELECT 'u1', 'hammer', id, 12345678901234567890.0123456789, ARRAY['a', 'b,c', NULL], '{"k": [1, 2.50, "x"], "n": null}',
       '\xdeadbeef', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', '1 day 02:03:04.5',
       '2024-02-29 23:59:59.123456+05:30', '2024-01-01'
FROM categories WHERE slug = 'tools' AND user_id = 'u1';
INSERT INTO products (user_id, slug, category_id, price) SELECT 'u1', 'saw', id, 12.50 FROM categories WHERE slug = 'tools' AND user_id = 'u1';
INSERT INTO products (user_id, slug, category_id, price) SELECT 'u1', 'ball', id, 0 FROM categories WHERE slug = 'toys' AND user_id = 'u1';
INSERT INTO products (user_id, slug, category_id) SELECT 'u2', 'drill', id FROM categories WHERE user_id = 'u2';
INSERT INTO reviews (user_id, slug, product_id, featured_category_id, body)
SELECT 'u1', 'r-' || p.slug, p.id, c.id, 'fine' FROM products p JOIN categories c ON c.slug = 'toys' AND c.user_id = 'u1'
WHERE p.user_id = 'u1';
