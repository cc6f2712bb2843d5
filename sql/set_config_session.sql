-- Make a library's parameter known to this session (a placeholder), so that ALTER SYSTEM
-- accepts it before the library is loaded. Changes nothing beyond this session. Only when the
-- session does not know it yet: once the library is loaded the parameter is real, and a
-- session SET of a sighup or postmaster one (auth_delay.milliseconds) is refused ("cannot be
-- changed now"), while ALTER SYSTEM takes it as it is.
SELECT set_config({name}, {value}, false) WHERE current_setting({name}, true) IS NULL
