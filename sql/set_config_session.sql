-- Make a library's parameter known to this session (a placeholder), so that ALTER SYSTEM
-- accepts it before the library is loaded. Changes nothing beyond this session.
SELECT set_config({name}, {value}, false)
