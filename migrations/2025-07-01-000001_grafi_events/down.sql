-- Reverting the first migration drops the table and every event in it, including rows that
-- grafi itself wrote if grafi created the table. Only for development databases.
DROP TABLE IF EXISTS events;
