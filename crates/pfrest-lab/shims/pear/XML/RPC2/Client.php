<?php
/* pfrest lab: an empty XML_RPC2_Client (PEAR), only used at run time for HA sync. */
class XML_RPC2_Client {}
