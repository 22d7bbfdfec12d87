<?php
/*
 * pfrest lab: a PSR-4 autoloader where pfrest expects composer's, for the two libraries that
 * pfrest's composer.lock names (laid into vendor/ by the lab).
 */
spl_autoload_register(function (string $class): void {
    static $prefixes = [
        'Firebase\\JWT\\' => __DIR__ . '/firebase/php-jwt/src/',
        'GraphQL\\' => __DIR__ . '/webonyx/graphql-php/src/',
    ];
    foreach ($prefixes as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});
