<?php
/* pfrest lab: stand-in for the ASN.1 library pfSense ships (namespace Ukrbublik\openssl_x509_crl).
 * certs.inc requires ASN1.php and ASN1_INT.php to check random certificate serials; the classes the
 * lab provides are in ASN1_INT.php. CRL encoding (the other ASN1_* classes) is not stood in. */
