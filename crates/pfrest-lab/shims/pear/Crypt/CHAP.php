<?php
/* pfrest lab: empty Crypt_CHAP classes (PEAR), only used at run time for RADIUS logins. */
class Crypt_CHAP {}
class Crypt_CHAP_MD5 extends Crypt_CHAP {}
class Crypt_CHAP_MSv1 extends Crypt_CHAP {}
class Crypt_CHAP_MSv2 extends Crypt_CHAP {}
