#!/usr/bin/perl
# Limit ExifTool to JPEG and TIFF files: GitLab only strips metadata from those, and every other
# format parser is attack surface. Rewrites lib/Image/ExifTool.pm in place and fails loudly when
# a list it edits is not found (a new ExifTool release changed the file).
use strict;
use warnings;

my $file = shift or die "usage: $0 lib/Image/ExifTool.pm\n";
open(my $in, '<', $file) or die "$file: $!\n";
my $text = do { local $/; <$in> };
close($in);

# the types ExifTool tries to read, and the ones it may write
$text =~ s/^(\@fileTypes\s*=\s*qw\()[^)]*\);/${1}JPEG TIFF);/m
    or die "$file: no \@fileTypes list\n";
$text =~ s/^(my\s+\@writeTypes\s*=\s*qw\()[^)]*\);/${1}JPEG TIFF);/m
    or die "$file: no \@writeTypes list\n";

# file name extensions: keep only the entries for JPEG and TIFF
my $kept = 0;
$text =~ s{^(%fileTypeLookup\s*=\s*\(\n)(.*?)(^\);)}{
    my ($head, $body, $tail) = ($1, $2, $3);
    my @lines = grep { /^\s*'?(?:JPEG|JPG|TIFF)'?\s*=>/ } split(/^/m, $body);
    $kept = scalar(@lines);
    $head . join('', @lines) . $tail;
}ems or die "$file: no %fileTypeLookup table\n";
$kept == 3 or die "$file: expected 3 JPEG/TIFF extension entries, kept $kept\n";

open(my $out, '>', $file) or die "$file: $!\n";
print $out $text;
close($out) or die "$file: $!\n";
