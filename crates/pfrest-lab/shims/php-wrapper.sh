#!/bin/sh
# pfrest lab: /usr/local/bin/php, the host's PHP with the lab's php.ini (pfrest's dispatchers run
# `php` for background applies).
exec /usr/bin/php -c /usr/local/etc/php.ini "$@"
