CREATE TABLE items (a SERIAL PRIMARY KEY);
/* this comment
never ends
