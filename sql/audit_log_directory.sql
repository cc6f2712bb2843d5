-- The server's log directory as an absolute path (a relative one is inside the data directory).
SELECT CASE WHEN left(current_setting('log_directory'), 1) = '/'
            THEN current_setting('log_directory')
            ELSE current_setting('data_directory') || '/' || current_setting('log_directory')
       END
