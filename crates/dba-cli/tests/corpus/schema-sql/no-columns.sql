CREATE TABLE items ();
