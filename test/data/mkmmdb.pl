#!/usr/bin/perl
# mkmmdb.pl OUT - write the small GeoIP test database that test_geoip and
# test_policy read, with MaxMind's own writer (Debian package
# libmaxmind-db-writer-perl), so no binary file is committed.  The layout
# mirrors GeoLite2-Country: each record is a map with "country" ->
# "iso_code" (and "names"); one network has only "registered_country", as
# some GeoLite2 records do.  The networks are listed in test/data/README.md.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT.mmdb\n";

my %types = (
    country            => 'map',
    registered_country => 'map',
    iso_code           => 'utf8_string',
    names              => 'map',
    en                 => 'utf8_string',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 24,
    database_type         => 'bulwark-Test-Country',
    languages             => ['en'],
    description           => { en => 'bulwark unit-test country database' },
    map_key_type_callback => sub { $types{ $_[0] } // die "no type for key $_[0]\n" },
    # The test networks are reserved ranges (loopback, RFC 1918, the IPv6
    # documentation prefix), which the writer leaves out by default.
    remove_reserved_networks => 0,
);

sub country { my ($cc, $name) = @_; return { iso_code => $cc, names => { en => $name } } }

# Later, longer prefixes override the part of an earlier network they cover.
my @nets = (
    [ '127.0.0.0/16',   { country => country('CN', 'China') } ],
    [ '127.1.0.0/16',   { country => country('US', 'United States') } ],
    [ '127.2.0.0/16',   { country => country('DE', 'Germany') } ],
    [ '127.3.0.0/16',   { registered_country => country('GB', 'United Kingdom') } ],
    [ '127.16.0.0/12',  { country => country('RU', 'Russia') } ], # bulwark-siege's first attack range
    [ '10.0.0.0/8',     { country => country('FR', 'France') } ],
    [ '2001:db8::/32',  { country => country('JP', 'Japan') } ],
    [ '2001:db8:1::/48', { country => country('KR', 'South Korea') } ],
);
$tree->insert_network(@$_) for @nets;

open my $fh, '>:raw', "$out.tmp" or die "$out.tmp: $!\n";
$tree->write_tree($fh);
close $fh or die "$out.tmp: $!\n";
rename "$out.tmp", $out or die "$out: $!\n";
