-- One column of every type dba promises to round-trip exactly.
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TABLE all_types (
    id serial PRIMARY KEY,
    c_smallint smallint,
    c_integer integer,
    c_bigint bigint,
    c_numeric numeric(38, 10),
    c_numeric_free numeric,
    c_real real,
    c_double double precision,
    c_boolean boolean,
    c_text text,
    c_varchar varchar(20),
    c_char char(5),
    c_citext citext,
    c_uuid uuid,
    c_date date,
    c_time time,
    c_timestamp timestamp,
    c_timestamptz timestamptz,
    c_interval interval,
    c_json json,
    c_jsonb jsonb,
    c_bytea bytea,
    c_inet inet,
    c_cidr cidr,
    c_macaddr macaddr,
    c_enum mood,
    c_domain positive_int,
    c_int_array integer[],
    c_text_array text[],
    c_int_matrix integer[][],
    c_enum_array mood[],
    c_numeric_array numeric[]
);
