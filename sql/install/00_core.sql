-- Engram install script, assembled from sql/install/*.sql in name order.
\echo Use "CREATE EXTENSION engram" to load this file. \quit
