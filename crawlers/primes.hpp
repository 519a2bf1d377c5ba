#pragma once
// placeholder, filled in by the primes client
