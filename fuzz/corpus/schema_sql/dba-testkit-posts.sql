-- Child table: needs users (apply after it).
create table posts (
    id bigint primary key,
    user_id bigint not null references users (id),
    title text not null
);
insert into posts (id, user_id, title) values (10, 1, 'notes'), (11, 2, 'compilers');
