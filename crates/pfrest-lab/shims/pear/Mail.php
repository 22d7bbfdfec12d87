<?php
/* pfrest lab: an empty Mail class (PEAR), only used at run time to send SMTP notifications. */
class Mail {}
