<?php
/* pfrest lab: an empty Auth_RADIUS (PEAR); pfSense only uses it at run time for RADIUS logins. */
class Auth_RADIUS {}
class Auth_RADIUS_PAP extends Auth_RADIUS {}
class Auth_RADIUS_CHAP_MD5 extends Auth_RADIUS {}
class Auth_RADIUS_MSCHAPv1 extends Auth_RADIUS {}
class Auth_RADIUS_MSCHAPv2 extends Auth_RADIUS {}
class Auth_RADIUS_Acct {}
