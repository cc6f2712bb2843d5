SELECT current_setting('archive_mode')
