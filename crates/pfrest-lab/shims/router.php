<?php
/*
 * pfrest lab: plays nginx for PHP's built-in server. pfrest's nginx block maps /api/v2/PATH to the
 * generated /usr/local/www/api/v2/PATH/index.php (`try_files $uri/index.php =404`); anything else
 * answers nginx's HTML 404 page, never a JSON envelope and never a static file.
 */
require_once '/usr/local/share/pfrest-lab/pfsense_ext.php';

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
$script = null;
if (preg_match('#^/api/v2(/[A-Za-z0-9_\-/]*)?$#', $path) && !str_contains($path, '//')) {
    $candidate = '/usr/local/www' . rtrim($path, '/') . '/index.php';
    if (is_file($candidate)) {
        $script = $candidate;
    }
}
if ($script === null) {
    http_response_code(404);
    header('Content-Type: text/html');
    readfile('/usr/local/www/404.html');
    return true;
}
$_SERVER['SCRIPT_NAME'] = substr($script, strlen('/usr/local/www'));
$_SERVER['SCRIPT_FILENAME'] = $script;
$_SERVER['PHP_SELF'] = $_SERVER['SCRIPT_NAME'];
$_SERVER['DOCUMENT_ROOT'] = '/usr/local/www';
chdir(dirname($script));
require $script;
return true;
