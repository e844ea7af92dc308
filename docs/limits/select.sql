\set id random(1, 10000)
SELECT row_to_json("_dba_r")::text FROM (SELECT * FROM "bench" WHERE "id" = :id) "_dba_r";
