<?php
/* pfrest lab: stand-in for pfSense's ASN1_INT class. certs.inc only builds one to learn whether a
 * serial is a usable non-negative integer (it throws otherwise) and may read `content`. */
namespace Ukrbublik\openssl_x509_crl;

class ASN1_INT {
    public $content;

    public function __construct($value) {
        if (!(is_int($value) && $value >= 0) && !(is_string($value) && ctype_digit($value))) {
            throw new \Exception('not a non-negative integer');
        }
        $this->content = (string)$value;
    }
}
