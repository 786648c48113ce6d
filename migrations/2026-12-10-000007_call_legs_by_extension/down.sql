DROP INDEX CONCURRENTLY IF EXISTS call_legs_by_extension;
