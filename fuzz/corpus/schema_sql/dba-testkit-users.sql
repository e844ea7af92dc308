-- Parent table: apply before posts.
create table users (
    id bigint primary key,
    name text not null
);
insert into users (id, name) values (1, 'ada'), (2, 'grace');
